"""`python -m engine` runs the `rulebook` command."""

from .launch import main

if __name__ == "__main__":
    main()
