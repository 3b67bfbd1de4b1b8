"""Reports: cost (by source), revenue as billed (placed in time), profit and margin, read
from the rollups and the rating function; tracking modes decide what is null."""
