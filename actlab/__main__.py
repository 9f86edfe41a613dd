"""`python -m actlab` is the same as the `actlab` console script."""

from actlab.cli import main

if __name__ == "__main__":
    main()
