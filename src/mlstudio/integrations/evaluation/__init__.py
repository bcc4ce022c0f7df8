"""Evaluation: is candidate B better than A on *this* application's data?

``stats`` (paired bootstrap, permutation and McNemar tests, clustered errors, multiple-testing
correction, power), ``metrics`` (item-level scores), ``judges`` (pairwise judges in both orders),
``lift`` (online-experiment business lift), ``service`` (candidates, governed item-level score
datasets, reports) and ``gate`` (evaluation gates on protected aliases).
"""
