"""Export a checkpoint for deployment: `python export.py ckpt_path=... [output_dir=deploy/] [int8=true ...]`.

Writes model.onnx + model.json (and with int8=true model_int8.onnx + .json) for predict_onnx.py."""

from age_lightning.cli import export

if __name__ == "__main__":
    export()
