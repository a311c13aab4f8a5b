"""Developer tooling: the embedded stack (Tansu + PostgreSQL + services), the demo and
the CLI behind `make run`. Tests and benchmarks start their stack with it too. Services
never import this package."""
