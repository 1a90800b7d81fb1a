from wholerepo.cli.app import main

main()
