from lecun89.cli import main

raise SystemExit(main())
