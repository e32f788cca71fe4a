"""A sandbox of simulated AWS accounts for the demo and benchmarks.

`sandbox.server` runs a moto server on 127.0.0.1 inside the current process, `sandbox.patches` fills
the gaps between moto and AWS that the checks depend on, and `sandbox.seed` builds accounts through
the AWS APIs. Nothing here is used by the product at run time; it needs the development requirements
(moto).
"""
