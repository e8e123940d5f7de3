"""The model engine: market data, risk model, optimizer, backtest and analytics.

A pure library (numpy, pandas, scipy; threadpoolctl to hold BLAS to one thread). It imports
nothing from Flask, Redis or SQL, nor anything of ours outside this package.
"""
