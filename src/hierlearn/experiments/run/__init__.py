"""Running a spec: its cells (`cells`), the adaptive n* search (`adaptive`), executors,
the driver (`runner`), the SQLite store of results and leases (`store`) and the progress
line (`progress`)."""
