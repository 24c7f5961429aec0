"""fundingkit: Vyper 0.4 funding-rate market contracts with Python and Ape tooling."""
