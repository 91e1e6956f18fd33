"""Singer target that loads stock counts into Kibo OMS inventory jobs."""
