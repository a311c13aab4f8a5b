"""The chaos suite (`make chaos`): a steady load of cases through the public API, partners
answering over HTTP and Kafka, a schedule of faults, and a checker that reads the four
databases and the topics afterwards. See docs/chaos.md."""
