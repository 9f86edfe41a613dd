"""A fit's life, from its checks to its checkpoints: what ``actlab fit`` adds to Lightning.

Read in the order a fit runs:

- :mod:`~actlab.fit.host_memory`: first, the memory each training step frees is kept in the
  process (glibc), so the next step does not fault it back in.
- :mod:`~actlab.fit.preflight`: the checks before a run is created (tracking target and
  credentials, optimizer, accelerator).
- :mod:`~actlab.fit.resume`: what ``--ckpt_path`` does (which checkpoint, which run).
- :mod:`~actlab.fit.callbacks`: the callbacks every fit carries
  (:func:`~actlab.fit.callbacks.fit_callbacks`).
- :mod:`~actlab.fit.checkpoints`: the checkpoint contract, one entry ``checkpoint["actlab"]``
  (:class:`~actlab.fit.checkpoints.CheckpointStamp` writes it; reading and checking files).
- :mod:`~actlab.fit.last_checkpoint`: ``last.ckpt`` rewritten after every epoch.
- :mod:`~actlab.fit.guards`: what stops a fit (signals, a non-finite loss) and the ``error`` tag.

The CLI (:mod:`actlab.cli.training`) only wires these into LightningCLI; :mod:`actlab.tracking`
only talks to MLflow.
"""
