"""MOTChallenge multi-object tracking: file I/O, dataset converters, TrackEval evaluation,
synthetic MOT17-format sequences.

- ``motchallenge``: ``seqinfo.ini``, ``gt.txt`` and tracker result files (read with
  ``file:line`` errors; results written in the official SVM format);
- ``convert``: MOT17 / CrowdHuman / MOTSynth -> the COCO-video json of the official SVM code;
- ``evaluate``: ``evaluate_mot``, TrackEval ``MotChallenge2DBox`` with HOTA, CLEAR, Identity;
- ``synthetic``: ``write_synthetic_mot``, small moving-pedestrian sequences for smoke runs.
"""
