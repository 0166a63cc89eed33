from xcptui.cli import main

raise SystemExit(main())
