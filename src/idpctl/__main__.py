from idpctl.cli import main

raise SystemExit(main())
