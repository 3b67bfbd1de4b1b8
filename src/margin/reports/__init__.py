"""Reports: cost, revenue, profit and margin read from the hourly rollups."""
