"""The benchmark harness: this client against raw aiohttp and the official SDK.

Run it with ``python -m benchmarks`` (``--quick`` for a run of seconds). It starts a
server in its own process, runs each client scenario in a fresh process of its own, in
alternating rounds, and reports medians as a Markdown table with ratios to raw aiohttp,
the targets of issue 10 with pass or fail, and a chart. ``docs/performance.md`` says
what is measured and shows the numbers of a real run.

Modules, one concern each:

* :mod:`benchmarks.server`: the server process (a minimal aiohttp server answering the
  real shapes, or the simulator with enough accounts for distinct user ids).
* :mod:`benchmarks.scenarios`: what one call is, for each client being compared.
* :mod:`benchmarks.child`: the client process that runs one scenario and measures it.
* :mod:`benchmarks.report`: medians, the Markdown report, the targets and the chart.
* :mod:`benchmarks.run`: the command line that ties them together.
"""
