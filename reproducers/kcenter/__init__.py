"""K-centered Patch Sampling for Efficient Video Recognition (Park et al., ECCV 2022).

Official code: kami93/kcenter_video @ ef7a40a7365b948ed78b38152fd0e1213a9d5e5a. The greedy
K-center patch sampler (``sampler``), the token plan and patch grid (``tokens``) and the three
backbones (``models``: ViT joint attention, TimeSformer, Motionformer).
"""
