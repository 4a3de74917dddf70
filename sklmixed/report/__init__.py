"""What a fitted model shows: text summaries (:mod:`~sklmixed.report.summary`) and plots
(:mod:`~sklmixed.report.plotting`, public as :mod:`sklmixed.plotting`)."""
