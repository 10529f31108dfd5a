"""carin-zoo: list and verify the built zoo; add your own ONNX image classifier to it."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence

import cv2
import numpy as np
import yaml

from carin_ros.core.space import Precision
from carin_ros.zoo import manifest as mf
from carin_ros.zoo import quantize
from carin_ros.zoo.manifest import Zoo, ZooError, default_model_dir, file_spec, write_yaml

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
USER_DIR = 'user'


def read_calibration_images(folder: str, limit: int) -> list[np.ndarray]:
    """RGB images of ``folder`` (sorted by name, at most ``limit``); clear error when none."""
    if not os.path.isdir(folder):
        raise ZooError(f'--calibration {folder}: not a folder')
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    images = []
    for name in names[:limit]:
        bgr = cv2.imread(os.path.join(folder, name), cv2.IMREAD_COLOR)
        if bgr is None:
            print(f'carin-zoo: skipping {os.path.join(folder, name)}: cannot decode',
                  file=sys.stderr)
            continue
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if not images:
        raise ZooError(f'--calibration {folder}: no readable images '
                       f'({", ".join(IMAGE_EXTENSIONS)})')
    return images


def _input_size(path: str, override: int | None) -> int:
    model = quantize.check_onnx(path)
    inputs = [i for i in model.graph.input
              if i.name not in {init.name for init in model.graph.initializer}]
    if len(inputs) != 1:
        raise ZooError(f'{path}: an image classifier needs exactly one input, has '
                       f'{[i.name for i in inputs]}')
    dims = [d.dim_value if d.HasField('dim_value') else None
            for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[1] not in (3, None):
        raise ZooError(f'{path}: input {inputs[0].name} must be N x 3 x H x W, got {dims}')
    if override:
        return override
    if dims[2] is None or dims[2] != dims[3]:
        raise ZooError(f'{path}: input size is {dims[2]}x{dims[3]}; pass --size')
    return int(dims[2])


def add_classifier(model_dir: str, task: str, onnx_path: str, calibration: str,
                   name: str | None = None, labels: str | None = None,
                   mean: Sequence[float] = (127.0, 127.0, 127.0),
                   std: Sequence[float] = (128.0, 128.0, 128.0), size: int | None = None,
                   resize: int | None = None, calibration_images: int = 32,
                   precisions: Sequence[str] = ('fp32', 'fp16', 'int8'),
                   replace: bool = False, log=print) -> list[str]:
    """Make the precision variants of an fp32 ONNX image classifier and register them in
    ``<model_dir>/user_zoo.yaml``. Returns the variant names."""
    from carin_ros.engine.tasks.image_classification import ImageInput, preprocess
    model_dir = os.path.abspath(model_dir)
    if not os.path.isfile(onnx_path):
        raise ZooError(f'--onnx {onnx_path}: no such file')
    arch = name or os.path.splitext(os.path.basename(onnx_path))[0]
    if not arch.replace('_', '').replace('-', '').isalnum():
        raise ZooError(f'--name {arch!r}: use letters, digits, - and _ only')
    in_size = _input_size(onnx_path, size)
    inp = ImageInput.from_dict({'size': in_size, 'resize': resize or round(in_size / 0.875),
                                'mean': list(mean), 'std': list(std)}, f'--onnx {onnx_path}')
    precs = [Precision(p) for p in precisions]
    if Precision.FP32 not in precs:
        precs.insert(0, Precision.FP32)

    manifest = os.path.join(model_dir, mf.MANIFEST_NAME)
    if not os.path.isfile(manifest):
        write_yaml(manifest, {'schema': mf.MANIFEST_SCHEMA, 'version': 'user', 'tasks': {}})
    user_path = os.path.join(model_dir, mf.USER_ZOO_NAME)
    user = {'tasks': {}}
    if os.path.isfile(user_path):
        with open(user_path, encoding='utf-8') as f:
            user = yaml.safe_load(f) or {'tasks': {}}
    built = Zoo.load(model_dir)
    if task in built.tasks and built.kind(task) != 'image_classification':
        raise ZooError(f'--task {task}: that task is a {built.kind(task)}, not an image '
                       f'classifier')
    entry = user['tasks'].setdefault(task, {'kind': 'image_classification', 'variants': []})
    names = [f'{arch}_{p.value}' for p in precs]
    clash = [v['name'] for v in entry['variants'] if v['name'] in names]
    recipe_clash = [n for n in names if task in built.tasks and any(
        v.name == n and v.origin == 'recipe' for v in built.variants(task))]
    if recipe_clash:
        raise ZooError(f'--name {arch}: variants {recipe_clash} belong to the built zoo')
    if clash and not replace:
        raise ZooError(f'{user_path}: {task} already has {clash}; pass --replace or --name')
    entry['variants'] = [v for v in entry['variants'] if v['name'] not in names]

    folder = os.path.join(model_dir, USER_DIR, task)
    os.makedirs(folder, exist_ok=True)
    fp32 = os.path.join(folder, f'{arch}_fp32.onnx')
    shutil.copyfile(onnx_path, fp32)
    files = {}
    if labels:
        if not os.path.isfile(labels):
            raise ZooError(f'--labels {labels}: no such file')
        lab = os.path.join(folder, f'{arch}_labels.txt')
        shutil.copyfile(labels, lab)
        files['labels'] = lab
    for p in precs:
        out = os.path.join(folder, f'{arch}_{p.value}.onnx')
        if p is Precision.FP16:
            quantize.to_fp16(fp32, out)
        elif p is Precision.INT8:
            batches = [preprocess(img, inp)
                       for img in read_calibration_images(calibration, calibration_images)]
            quantize.to_int8_static(fp32, out, batches)
        elif p is Precision.INT8_DYNAMIC:
            quantize.to_int8_dynamic(fp32, out)
        specs = {'model': file_spec('model', out)}
        if 'labels' in files:
            specs['labels'] = file_spec('labels', files['labels'])
        entry['variants'].append({
            'name': f'{arch}_{p.value}', 'arch': arch, 'precision': p.value,
            'files': {r: s.to_dict(model_dir) for r, s in specs.items()},
            'input': inp.to_dict(), 'params': {'top_k': 5},
            'source': f'carin-zoo add --onnx {os.path.abspath(onnx_path)}', 'licence': 'user'})
        log(f'  {task}/{arch}_{p.value}: {os.path.getsize(out) / 2**20:.2f} MB')
    write_yaml(user_path, user)
    Zoo.load(model_dir, deep=True)   # the merged zoo must load
    return names


def cmd_list(args: argparse.Namespace) -> int:
    zoo = Zoo.load(args.model_dir)
    print(f'zoo {zoo.version} at {zoo.root}')
    for v in zoo.all_variants():
        extra = v.params.get('test_accuracy')
        acc = f'  test_accuracy={extra}' if extra is not None else ''
        print(f'{v.task:22} {v.name:32} {v.precision.value:13} {v.size_mb:7.1f} MB '
              f'{v.origin:6}{acc}')
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    zoo = Zoo.load(args.model_dir, deep=True)
    n = len(zoo.all_variants())
    print(f'zoo {zoo.version} at {zoo.root}: {n} variants, every file matches its sha256')
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    names = add_classifier(args.model_dir, args.task, args.onnx, args.calibration, args.name,
                           args.labels, args.mean, args.std, args.size, args.resize,
                           args.calibration_images, args.precisions, args.replace)
    print(f'registered {", ".join(names)} in {os.path.join(args.model_dir, mf.USER_ZOO_NAME)}')
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='carin-zoo', description=__doc__)
    parser.add_argument('--model-dir', default=None,
                        help='built zoo folder (default: $CARIN_MODEL_DIR or models/build)')
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('list', help='list the variants of the zoo').set_defaults(fn=cmd_list)
    sub.add_parser('verify', help='check every file against its sha256').set_defaults(
        fn=cmd_verify)
    add = sub.add_parser('add', help='add an fp32 ONNX image classifier as fp32/fp16/int8')
    add.add_argument('--task', required=True, help='task name (new or an image task)')
    add.add_argument('--onnx', required=True, help='fp32 ONNX classifier, input N x 3 x H x W')
    add.add_argument('--calibration', required=True, help='folder of images for static int8')
    add.add_argument('--name', default=None, help='arch name (default: the file name)')
    add.add_argument('--labels', default=None, help='text file, one class name a line')
    add.add_argument('--mean', type=float, nargs=3, default=(127.0, 127.0, 127.0))
    add.add_argument('--std', type=float, nargs=3, default=(128.0, 128.0, 128.0))
    add.add_argument('--size', type=int, default=None, help='input size when not fixed')
    add.add_argument('--resize', type=int, default=None, help='shorter side before the crop')
    add.add_argument('--calibration-images', type=int, default=32)
    add.add_argument('--precisions', nargs='+', default=['fp32', 'fp16', 'int8'],
                     choices=[p.value for p in Precision])
    add.add_argument('--replace', action='store_true', help='replace variants of that name')
    add.set_defaults(fn=cmd_add)
    args = parser.parse_args(argv)
    args.model_dir = args.model_dir or default_model_dir()
    try:
        return args.fn(args)
    except (ZooError, ValueError, KeyError) as exc:
        print(f'carin-zoo: error: {exc}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
