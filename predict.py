"""Predict the age of new photos with a checkpoint: `python predict.py ckpt_path=... input=PATH`.

PATH is an image or a folder. Writes a CSV (file, status, predicted_age, age_low/age_high for a calibrated
uncertain model, age_band, asks_for_id and what the face step found) and prints a summary. predict_onnx.py
does the same with an exported model, without torch."""

from age_lightning.cli import predict

if __name__ == "__main__":
    predict()
