"""``actlab report``: tables of a metric over any experiment's runs, with statistics, curves and
an HTML page.

- :mod:`~actlab.report.load`: the runs of an experiment, read from MLflow (:class:`RunRecord`),
  and the runs a report counts (:func:`select_runs`);
- :mod:`~actlab.report.table`: the table model: cells of runs, flags, labels;
- :mod:`~actlab.report.compare` and :mod:`~actlab.report.stats`: each cell tested against its
  column's reference cell, Holm-corrected, with the seeds a paired test needs;
- :mod:`~actlab.report.text`: a cell's text, the captions, notes and comparison rows;
- :mod:`~actlab.report.render_text`: rich, markdown, CSV and LaTeX;
- :mod:`~actlab.report.render_html`: the ``--html`` page;
- :mod:`~actlab.report.curves` and :mod:`~actlab.report.shapes`: curves per epoch and learned
  activation shapes;
- :mod:`~actlab.report.command`: the ``actlab report`` command.

No module here imports torch, Lightning or matplotlib at module level, and none but
:mod:`~actlab.report.shapes` (numpy, imported when the page is drawn) imports numpy: ``actlab
report`` stays light (``LIGHT`` in ``tests/tracking/test_naming.py``).
"""
