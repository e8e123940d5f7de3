"""PlusAlpha: risk-targeted fixed-income ETF model portfolios."""
