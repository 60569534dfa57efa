from spacerunner.cli.main import main

raise SystemExit(main())
