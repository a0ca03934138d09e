"""`python -m supervisor`: the command-line interface."""

from supervisor.cli import main

raise SystemExit(main())
