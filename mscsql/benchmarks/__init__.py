"""The benchmarks mscsql reads: BIRD and Spider loaders (:mod:`~mscsql.benchmarks.loaders`), subsets of their
databases (:mod:`~mscsql.benchmarks.subsets`), prediction files (:mod:`~mscsql.benchmarks.predictions`) and
Spider's hardness rules (:mod:`~mscsql.benchmarks.hardness`). Linking, evaluation and training all read them;
this package imports none of them."""
