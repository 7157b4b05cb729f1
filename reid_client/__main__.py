"""`python -m reid_client` runs the `reid` command."""

import sys

from reid_client.cli import main

sys.exit(main())
