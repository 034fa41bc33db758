"""The full-size and smoke model configurations of svm_mot17 (one module, so the declaration
and the self-test read the same values without importing each other)."""

# svm_test.py at test time; training switches the memory to 2 (svm_base.py) and
# activation checkpointing on (enable_checkpoint=True), "released" memory behaviour.
FULL_MODEL = {"memory_length": 32, "checkpoint": True, "train_memory": "released"}
SMOKE_MODEL = {
    "width": 64, "layers": 4, "heads": 4, "window": 4, "residual_layers": [1, 3],
    "stage_layers": [0, 1, 2, 3], "memory_length": 8, "checkpoint": True,
    "train_memory": "released", "neck_in": [32, 64, 128], "neck_out": 32, "csp_blocks": 1,
    "head_feat": 32, "input_size": [192, 320], "random_size_range": [5, 7],
}
