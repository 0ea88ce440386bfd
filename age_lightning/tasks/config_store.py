"""Config options generated from the code that holds their defaults (Hydra's ConfigStore), so that no YAML file
repeats a default: `faces/<mode>` from faces.FacePolicy, `calibration/default` from
calibration.CalibrationSettings, and `data/labels`, `data/split`, `data/loader` and `data/balance` from the data
package's LabelsFormat, SplitSettings, LoaderSettings and BalanceSettings. Every key is still in
the composed config, so `faces.min_face=30` or `calibration.shift=0.002` work as overrides, and
`python train.py --cfg job` prints them all. Registered by `register_configs()`, called by age_lightning.cli
before Hydra composes anything (and by tests that compose configs themselves): nothing happens on import.
"""

from dataclasses import asdict

from hydra.core.config_store import ConfigStore

from age_lightning.calibration import CalibrationSettings
from age_lightning.data.datamodule import LoaderSettings
from age_lightning.data.labels import LabelsFormat
from age_lightning.data.sampling import BalanceSettings
from age_lightning.data.splits import SplitSettings
from age_lightning.faces import MODES, FacePolicy


def register_configs() -> None:
    store = ConfigStore.instance()
    for mode in MODES:
        store.store(group="faces", name=mode, node=FacePolicy(mode=mode).to_dict())
    store.store(group="calibration", name="default", node=asdict(CalibrationSettings()))
    for name, settings in (
        ("labels", LabelsFormat),
        ("split", SplitSettings),
        ("loader", LoaderSettings),
        ("balance", BalanceSettings),
    ):
        store.store(group=f"data/{name}", name="default", node=asdict(settings()))
