import sys

from govcloud.sim.cli import main

sys.exit(main())
