import sys

from samdesk.cli import main

sys.exit(main())
