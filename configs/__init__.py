"""The shipped configs. This folder is installed as the package ``lecun89.configs``
(see pyproject.toml), so ``lecun89 train lecun1989`` finds them outside a checkout."""
