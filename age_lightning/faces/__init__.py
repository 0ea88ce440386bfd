"""The face step shared by training, evaluation and prediction: find the face (detector.py), then align it
(align.py), as a `FacePolicy` says (policy.py); `FaceAligner` (aligner.py) does both for one photo."""

from age_lightning.faces.aligner import RECORD_COLUMNS, AlignedFace, FaceAligner
from age_lightning.faces.detector import Face
from age_lightning.faces.policy import CHOICES, MODES, NO_FACE, FacePolicy

__all__ = ["CHOICES", "MODES", "NO_FACE", "RECORD_COLUMNS", "AlignedFace", "Face", "FaceAligner", "FacePolicy"]
