from idpctl.cli.main import main

raise SystemExit(main())
