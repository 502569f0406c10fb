"""What the `hybridserve` subcommands run: the all-in-one cluster, a worker group, the gateway."""
