from bench.chaos.run import cli

cli()
