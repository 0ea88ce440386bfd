"""Predict ages with an exported ONNX model, on a till or any box without torch, Lightning or Hydra:

    python predict_onnx.py model=deploy/model.onnx input=photo.jpg|folder/ [output=ages.csv] [faces=align|none]

Same CSV and summary as predict.py; preprocessing and the face step are the same code. Options:
PredictOnnxConfig in age_lightning/deploy/commands.py.
"""

import sys

from age_lightning.deploy.commands import predict_onnx

if __name__ == "__main__":
    sys.exit(predict_onnx())
