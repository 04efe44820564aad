"""Dataset adapters on tiny fixtures in each dataset's exact published layout (empty files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_prep.datasets import ADAPTERS, get_adapter, hash_split
from data_prep.datasets.ffpp import actor_split
from data_prep.errors import DatasetLayoutError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture()
def ffpp_root(tmp_path: Path) -> Path:
    root = tmp_path / "ffpp"
    pairs = {"train": [["071", "054"], ["001", "002"]], "val": [["010", "011"]],
             "test": [["953", "974"]]}
    (root / "splits").mkdir(parents=True)
    for split, split_pairs in pairs.items():
        (root / "splits" / f"{split}.json").write_text(json.dumps(split_pairs))
    for comp in ("c23", "c40"):
        for pair in [p for ps in pairs.values() for p in ps]:
            for vid in pair:
                touch(root / "original_sequences/youtube" / comp / "videos" / f"{vid}.mp4")
            for method in ("Deepfakes", "FaceSwap"):
                a, b = pair
                touch(root / "manipulated_sequences" / method / comp / "videos" / f"{a}_{b}.mp4")
                touch(root / "manipulated_sequences" / method / comp / "videos" / f"{b}_{a}.mp4")
    touch(root / "original_sequences/youtube/c23/videos/999.mp4")  # in no split
    for actor in ("01", "02", "03", "17"):
        touch(root / f"original_sequences/actors/c23/videos/{actor}__meeting_serious.mp4")
    touch(root / "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__meeting_serious__YVGY8LOK.mp4")
    touch(root / "manipulated_sequences/DeepFakeDetection/c23/videos/17_03__walk_down_hall_angry__ABCD1234.mp4")
    touch(root / "manipulated_sequences/Deepfakes/c23/videos/notes.txt")  # not a video
    return root


def test_registry_names():
    assert set(ADAPTERS) == {"ffpp", "celebdf", "dfdc_preview", "folder"}
    assert get_adapter("ffpp").name == "ffpp"
    with pytest.raises(KeyError, match="celebdf"):
        get_adapter("nope")


def test_ffpp_pairs_and_labels(ffpp_root: Path):
    entries = get_adapter("ffpp").list_videos(ffpp_root, methods=["original", "df"])
    by_key = {(e.method, e.video_id): e for e in entries}
    assert by_key[("original", "071")].split == "train" and by_key[("original", "071")].label == 0
    assert by_key[("Deepfakes", "054_071")].split == "train" and by_key[("Deepfakes", "054_071")].label == 1
    assert by_key[("Deepfakes", "953_974")].split == "test"
    assert by_key[("original", "011")].split == "val"
    assert ("original", "999") not in by_key  # unlisted video skipped
    assert {e.method for e in entries} == {"original", "Deepfakes"}
    assert len(entries) == 8 + 8  # 4 pairs: 8 originals, 8 fakes
    assert all(e.dataset == "ffpp" and e.path.exists() for e in entries)
    assert entries == sorted(entries, key=lambda e: (e.method, e.video_id))


def test_ffpp_split_and_compression_filters(ffpp_root: Path):
    adapter = get_adapter("ffpp")
    test = adapter.list_videos(ffpp_root, split="test", methods=["FaceSwap"], compression="c40")
    assert sorted(e.video_id for e in test) == ["953_974", "974_953"]
    assert all("/c40/" in e.path.as_posix() for e in test)
    train_val = adapter.list_videos(ffpp_root, split=["train", "val"], methods=["original"])
    assert {e.split for e in train_val} == {"train", "val"} and len(train_val) == 6
    with pytest.raises(DatasetLayoutError, match="DeepFakeDetection"):
        adapter.list_videos(ffpp_root, methods=["dfd"], compression="c40")
    with pytest.raises(ValueError, match="unknown FaceForensics"):
        adapter.list_videos(ffpp_root, methods=["Nope"])


def test_ffpp_all_methods_and_dfd_actor_split(ffpp_root: Path):
    entries = get_adapter("ffpp").list_videos(ffpp_root)
    assert {e.method for e in entries} == {"original", "Deepfakes", "FaceSwap",
                                          "DeepFakeDetection", "original_actors"}
    dfd = {e.video_id: e for e in entries if e.method == "DeepFakeDetection"}
    actors = {e.video_id: e for e in entries if e.method == "original_actors"}
    fake = dfd["01_02__meeting_serious__YVGY8LOK"]
    assert fake.label == 1 and actors["01__meeting_serious"].label == 0
    # A DFD fake follows its target actor's split, which is a stable hash of the actor id.
    assert fake.split == actors["01__meeting_serious"].split == hash_split("dfd-actor:01")
    assert dfd["17_03__walk_down_hall_angry__ABCD1234"].split == actor_split("17__x")


def test_hash_split_is_stable_and_roughly_72_14_14():
    names = [hash_split(f"k{i}") for i in range(5000)]
    assert names == [hash_split(f"k{i}") for i in range(5000)]
    fractions = [names.count(s) / len(names) for s in ("train", "val", "test")]
    assert abs(fractions[0] - 0.72) < 0.03 and abs(fractions[1] - 0.14) < 0.03


def test_ffpp_dfd_only_needs_no_split_files(ffpp_root: Path):
    for f in (ffpp_root / "splits").iterdir():
        f.unlink()
    entries = get_adapter("ffpp").list_videos(ffpp_root, methods=["dfd", "actors"])
    assert len(entries) == 6
    with pytest.raises(DatasetLayoutError, match="splits"):
        get_adapter("ffpp").list_videos(ffpp_root, methods=["original"])


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_bad_roots_raise_layout_error(tmp_path: Path, name: str):
    adapter = get_adapter(name)
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        adapter.list_videos(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetLayoutError, match=str(empty)):
        adapter.list_videos(empty)


def test_ffpp_mislaid_root_names_expected_layout(tmp_path: Path):
    touch(tmp_path / "videos" / "000.mp4")
    with pytest.raises(DatasetLayoutError, match="original_sequences"):
        get_adapter("ffpp").list_videos(tmp_path)


@pytest.fixture()
def celebdf_root(tmp_path: Path) -> Path:
    root = tmp_path / "Celeb-DF-v2"
    for rel in ("Celeb-real/id0_0000.mp4", "Celeb-real/id1_0001.mp4", "YouTube-real/00170.mp4",
                "YouTube-real/00171.mp4", "Celeb-synthesis/id0_id16_0000.mp4",
                "Celeb-synthesis/id1_id0_0001.mp4"):
        touch(root / rel)
    (root / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id0_id16_0000.mp4\n1 Celeb-real/id9_0009.mp4\n")
    return root


def test_celebdf_test_list_and_labels(celebdf_root: Path):
    entries = get_adapter("celebdf").list_videos(celebdf_root)
    by_id = {e.video_id: e for e in entries}
    assert len(entries) == 6
    assert by_id["00170"].split == "test" and by_id["00170"].label == 0
    assert by_id["id0_id16_0000"].split == "test" and by_id["id0_id16_0000"].label == 1
    assert by_id["id1_id0_0001"].split == "train" and by_id["id1_id0_0001"].method == "Celeb-synthesis"
    test = get_adapter("celebdf").list_videos(celebdf_root, split="test")
    assert sorted(e.video_id for e in test) == ["00170", "id0_id16_0000"]
    assert get_adapter("celebdf").list_videos(celebdf_root, split="val") == []
    fakes = get_adapter("celebdf").list_videos(celebdf_root, methods=["celeb-synthesis"])
    assert {e.label for e in fakes} == {1}


def test_celebdf_label_conflict_and_missing_list(celebdf_root: Path):
    (celebdf_root / "List_of_testing_videos.txt").write_text("0 YouTube-real/00170.mp4\n")
    with pytest.raises(DatasetLayoutError, match="listed as fake"):
        get_adapter("celebdf").list_videos(celebdf_root)
    (celebdf_root / "List_of_testing_videos.txt").unlink()
    with pytest.raises(DatasetLayoutError, match="List_of_testing_videos"):
        get_adapter("celebdf").list_videos(celebdf_root)


@pytest.fixture()
def dfdcp_root(tmp_path: Path) -> Path:
    root = tmp_path / "dfdcp"
    meta = {
        "original_videos/videos/1255229/1255229_A_001.mp4": {"label": "real", "set": "train"},
        "original_videos/videos/1255229/1255229_A_002.mp4": {"label": "real", "set": "test"},
        "method_A/videos/1255229/1255229_A/1255229_A_001.mp4": {"label": "fake", "set": "train",
                                                                "augmentations": {}},
        "method_B/videos/643049/643049_B1/643049_B1_001.mp4": {"label": "fake", "set": "test"},
        "method_B/videos/643049/643049_B1/643049_B1_999.mp4": {"label": "fake", "set": "test"},
    }
    for rel in list(meta)[:-1]:  # the last one is missing on disk
        touch(root / rel)
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def test_dfdc_preview_dataset_json(dfdcp_root: Path):
    entries = get_adapter("dfdc_preview").list_videos(dfdcp_root)
    assert len(entries) == 4
    assert {(e.method, e.label, e.split) for e in entries} == {
        ("original", 0, "train"), ("original", 0, "test"), ("method_A", 1, "train"),
        ("method_B", 1, "test")}
    assert len({e.video_id for e in entries}) == 4
    only_b = get_adapter("dfdc_preview").list_videos(dfdcp_root, split="test", methods=["method_B"])
    assert [e.video_id for e in only_b] == ["method_B/videos/643049/643049_B1/643049_B1_001"]
    (dfdcp_root / "dataset.json").write_text('{"a.mp4": {"label": "maybe", "set": "train"}}')
    with pytest.raises(DatasetLayoutError, match="a.mp4"):
        get_adapter("dfdc_preview").list_videos(dfdcp_root)


def test_folder_real_fake_layout(tmp_path: Path):
    touch(tmp_path / "real" / "a.mp4")
    touch(tmp_path / "real" / "sub" / "b.avi")
    touch(tmp_path / "fake" / "c.mp4")
    touch(tmp_path / "fake" / "GAN" / "c.mp4")
    touch(tmp_path / "fake" / "readme.txt")
    entries = get_adapter("folder").list_videos(tmp_path)
    assert [(e.method, e.video_id, e.label, e.split) for e in entries] == [
        ("GAN", "fake/GAN/c", 1, "test"), ("fake", "fake/c", 1, "test"),
        ("original", "real/a", 0, "test"), ("original", "real/sub/b", 0, "test")]
    assert len(get_adapter("folder").list_videos(tmp_path, methods=["real"])) == 2
    assert get_adapter("folder").list_videos(tmp_path, split="train") == []


def test_folder_split_subfolders(tmp_path: Path):
    touch(tmp_path / "train" / "real" / "a.mp4")
    touch(tmp_path / "train" / "fake" / "b.mp4")
    touch(tmp_path / "test" / "fake" / "c.mp4")
    entries = get_adapter("folder").list_videos(tmp_path)
    assert {(e.video_id, e.split, e.label) for e in entries} == {
        ("train/real/a", "train", 0), ("train/fake/b", "train", 1), ("test/fake/c", "test", 1)}


def test_folder_csv(tmp_path: Path):
    touch(tmp_path / "v" / "x.mp4")
    touch(tmp_path / "v" / "y.mp4")
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,label,split\nv/x.mp4,real,train\nv/y.mp4,1,\n")
    for root in (csv_path, tmp_path):
        entries = get_adapter("folder").list_videos(root)
        assert [(e.video_id, e.label, e.split, e.method) for e in entries] == [
            ("v/y", 1, "test", "fake"), ("v/x", 0, "train", "original")]
    csv_path.write_text("path,label\nv/x.mp4,2\n")
    with pytest.raises(DatasetLayoutError, match="labels.csv:2"):
        get_adapter("folder").list_videos(csv_path)
    csv_path.write_text("path,label\nv/missing.mp4,1\n")
    with pytest.raises(DatasetLayoutError, match="missing.mp4"):
        get_adapter("folder").list_videos(csv_path)


def _frame(entries):
    import pandas as pd

    return pd.DataFrame([{"dataset": e.dataset, "method": e.method, "video_id": e.video_id,
                          "label": e.label, "split": e.split} for e in entries])


def test_adapter_entries_carry_what_the_split_rules_read(ffpp_root: Path, dfdcp_root: Path):
    """The rules of data_prep.splits work on the adapters' ids (the records copy them)."""
    from data_prep.splits import video_splits

    ffpp = _frame(get_adapter("ffpp").list_videos(ffpp_root, methods=["original", "df"]))
    tariq = dict(zip(ffpp["video_id"] + "/" + ffpp["method"], video_splits(ffpp, "tariq_ffpp"),
                     strict=True))
    # the official JSON puts 010/011 in val; the CLRNet paper's rule puts them in train
    assert ffpp.set_index("video_id").loc["011", "split"] == "val"
    assert tariq["011/original"] == tariq["054_071/Deepfakes"] == "train"
    assert tariq["953/original"] == tariq["974_953/Deepfakes"] == "test"
    dfd = _frame(get_adapter("ffpp").list_videos(ffpp_root, methods=["dfd", "actors"]))
    dfd_split = video_splits(dfd, "tariq_dfd")
    # 2 DFD fakes and 4 actors' reals: 2 per class used, all train at this size (250:25:25)
    assert sorted(dfd_split.tolist()) == ["", "", "train", "train", "train", "train"]
    dfdc = _frame(get_adapter("dfdc_preview").list_videos(dfdcp_root))
    assert sorted(video_splits(dfdc, "tariq_dfdc").tolist()) == ["test", "test", "train",
                                                                 "train"]
