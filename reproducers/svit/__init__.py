"""SViT (NeurIPS 2022): "Bringing Image Scene Structure to Video via Frame-Clip Consistency of
Object Tokens" (Ben-Avraham et al.). MViTv2-S backbone with 4 learned object prompts per frame
and Hand-Object-Graph (HAOG) heads; also the plain MViTv2-S baseline from the same code.

Official code: eladb3/SViT @ bf0ab3e (slowfast/models/video_model_builder.py, class ``SViT``;
slowfast/models/attention.py), built on facebookresearch/SlowFast's MViTv2. Model code lives in
``reproducers.svit.model`` / ``reproducers.svit.attention``; reproductions are declared later.
"""

REPRODUCTIONS: list = []
