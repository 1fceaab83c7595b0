"""The suite runs in float64 (statsmodels and scipy are float64 oracles).

The library never touches global JAX config; only the tests do, here. Dedicated
float32 tests build float32 arrays explicitly.
"""

import jax

jax.config.update("jax_enable_x64", True)
