"""Leave-one-source-out of head variants on the shipped default's frozen embeddings.

    python benchmarks/triage_loso_variants.py                 # every variant below
    python benchmarks/triage_loso_variants.py --variant base --variant stack

Each text of complaints train+dev and of the default's label sets is embedded once (the
default's encoder and runtime, 128 tokens), then every variant trains its heads per fold
(triage.loso.loso_folds: the held-out source's own texts and related extra sets left out) and
the held-out predictions are pooled (emotions at 0.5), as benchmarks/triage_loso.py does:
- `base`: the shipped heads (C=4, emotion_C=2, style cues for emotions only);
- `describe`: + cosine similarity to a short description of every label in the four languages
  (`DESCRIPTIONS` below), z-scored, as extra columns for every head (`--weight`);
- `stack`: department also reads 5-fold out-of-fold cause probabilities;
- `grouped`: per-class logit offsets (cause, department) and per-label emotion thresholds
  tuned for macro-F1 on predictions of an inner GroupKFold by source.
docs/models.md (sixth round) has the figures. Nothing here is used by a shipped model.
"""

# ruff: noqa: E501  (the label descriptions are one line each)

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LABELLED = ["wider_channels", "weibo_shopping_zh", "wider_channels_r2:cause,department"]
HEADS = ("cause", "department", "emotions")

# One line per label and language: what a complaint of that label says, in the guidelines' terms.
DESCRIPTIONS = {
    "cause": {
        "product_quality": [
            "The product is faulty, broken, damaged or poor quality; the food was bad; the repair was done badly.",
            "El producto llegó roto, defectuoso o de mala calidad; la comida estaba mala.",
            "商品质量太差，坏了，有问题，菜不新鲜，维修没修好。",
            "Товар бракованный, сломался, плохого качества, ремонт сделали плохо.",
        ],
        "service_attitude": [
            "The staff were rude and dismissive, ignored me, never called back and passed me around.",
            "El personal fue grosero, no me atendieron, nadie me devolvió la llamada.",
            "客服态度极差，不理人，没人回电话，互相推诿。",
            "Сотрудник нахамил, меня игнорировали, не перезвонили, футболили.",
        ],
        "misleading_promise": [
            "They promised something and did not keep it: false advertising, hidden terms, mis-selling.",
            "Me prometieron algo que no cumplieron: publicidad engañosa, condiciones ocultas.",
            "宣传的和实际不符，承诺的没有兑现，虚假宣传，隐藏条款。",
            "Обещали одно, а сделали другое: обман в рекламе, навязали услугу, скрытые условия.",
        ],
        "billing": [
            "I was charged twice, an unexpected fee, wrong amount, my refund or payment has not arrived.",
            "Me cobraron dos veces, un cargo indebido, comisión, el reembolso no llegó.",
            "重复扣款，乱收费，金额不对，退款一直没到账。",
            "Списали деньги дважды, лишняя комиссия, неправильная сумма, деньги не вернули.",
        ],
        "delivery_delay": [
            "My order is late, lost or was never delivered; the processing is slow and I keep waiting.",
            "Mi pedido no ha llegado, el envío se retrasa, llevo semanas esperando.",
            "快递一直没到，送餐超时，发货太慢，等了好久。",
            "Заказ не доставили, перевод идёт неделю, долго ждать, задержка.",
        ],
        "technical_access": [
            "The app or website crashes, I cannot log in, my account is blocked, the system is down.",
            "La aplicación no funciona, no puedo acceder a mi cuenta, la web da error.",
            "APP闪退，登录不上，账号被冻结，系统出错。",
            "Приложение не работает, не могу войти, заблокировали доступ, сбой системы.",
        ],
        "policy": [
            "The company refused by its rules: loan denied, account closed, return window expired, limits.",
            "Me negaron el crédito, cerraron mi cuenta, no aceptan la devolución por sus normas.",
            "不给退货说超过七天，拒绝贷款，按规定不能办理，限额。",
            "Отказали в кредите, закрыли счёт по правилам банка, лимиты, не принимают возврат.",
        ],
        "other": [
            "A plain question or request, or praise: how do I do this? thank you, great service.",
            "Una pregunta o solicitud: ¿cómo puedo hacer esto? Gracias, buen servicio.",
            "请问怎么操作？谢谢，服务很好。",
            "Вопрос: как это сделать? Спасибо, отличное обслуживание.",
        ],
    },
    "department": {
        "customer_service": [
            "Staff behaviour, communication and follow-up of the complaint.",
            "Atención al cliente: trato del personal y seguimiento.",
            "客服人员的态度、沟通和跟进。",
            "Служба поддержки: поведение сотрудников и обратная связь.",
        ],
        "quality_maintenance": [
            "Product defects, repairs, warranty and goods quality.",
            "Defectos del producto, reparación y garantía.",
            "产品质量问题、维修和保修。",
            "Брак товара, ремонт и гарантия.",
        ],
        "billing_finance": [
            "Charges, fees, refunds, payments and transfers.",
            "Cobros, comisiones, reembolsos y pagos.",
            "扣费、退款、付款和转账。",
            "Списания, комиссии, возвраты и платежи.",
        ],
        "logistics": [
            "Shipping, delivery, couriers, stock and appointments.",
            "Envío, entrega, mensajería y citas.",
            "物流、快递、配送和预约。",
            "Доставка, курьеры, склад и запись.",
        ],
        "technical_support": [
            "Apps, websites, accounts, log-in and outages.",
            "Aplicación, web, cuenta, acceso y caídas del sistema.",
            "APP、网站、账号登录和系统故障。",
            "Приложение, сайт, вход в аккаунт и сбои.",
        ],
        "sales_marketing": [
            "Offers, advertising, contracts, pricing plans and credit decisions.",
            "Ofertas, publicidad, contratos, tarifas y crédito.",
            "优惠活动、广告、合同、套餐和贷款审批。",
            "Акции, реклама, договоры, тарифы и решения по кредиту.",
        ],
    },
    "emotions": {
        "angry": [
            "I am furious, this is outrageous and unacceptable, the worst ever.",
            "Estoy furioso, es una vergüenza, inaceptable.",
            "气死了，太垃圾了，简直不可理喻。",
            "Я в бешенстве, это позор, безобразие.",
        ],
        "anxious": [
            "I am worried and need this urgently today, please help quickly.",
            "Estoy preocupado, es urgente, necesito ayuda ya.",
            "很着急，急用，请尽快帮我处理。",
            "Я очень переживаю, срочно нужна помощь.",
        ],
        "sad": [
            "I am so disappointed and let down, I feel helpless.",
            "Estoy muy decepcionado y triste.",
            "太失望了，很无奈，心寒。",
            "Я разочарована, очень грустно.",
        ],
        "noisy": [
            "THIS IS A SCAM!!! I will go to the media and the court, everyone share this!!!",
            "¡¡¡ESTAFA!!! Los voy a denunciar en redes y en la prensa!!!",
            "投诉！！！曝光你们！！！大家转发！！！",
            "ПОЗОР!!! Напишу в прокуратуру и в СМИ!!!",
        ],
    },
}


def _heads(X, S, targets, weight, tr, held, extra=None):
    """The shipped heads: cause and department on X (+ extra), emotions also on the style cues
    (the last columns, as DenseFeatureBackend fits them with `style_heads=[emotions]`)."""
    from triage.backends.dense_heads import DenseLinearHeads

    text = X if extra is None else np.hstack([X, extra])
    features = np.hstack([text, S])
    narrow = {head: text.shape[1] for head in ("cause", "department")}
    heads = DenseLinearHeads(C=4, emotion_C=2, max_iter=3000).fit(
        features[tr], {h: [targets[h][i] for i in tr] for h in HEADS}, weight[tr], narrow
    )
    return heads.predict_proba(features[held]), heads.classes_


def main(argv: list[str] | None = None) -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    from calmdesk.encoder import EmbeddingCache, TextEncoder
    from triage.evaluate import score
    from triage.features import style_features
    from triage.loso import _compact, _with_lang, loso_data, loso_folds
    from triage.training import record_features, record_targets, record_weights

    variants = ("base", "describe", "stack", "grouped")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", choices=variants)
    parser.add_argument("--weight", type=float, default=0.5, help="describe: column weight")
    args = parser.parse_args(argv)

    complaints, extra, _ = loso_data("complaints", None, None, LABELLED)
    complaints, extra = _with_lang(complaints, "complaint"), _with_lang(extra, "extra")
    records = complaints + extra
    texts, langs = record_features(records)
    encoder = TextEncoder(None, max_length=128, batch_size=8, runtime="auto")
    started = time.perf_counter()
    X = EmbeddingCache(encoder).embed(texts)
    S = style_features(texts, langs)
    print(f"# {encoder.encoder_id}: {len(texts)} texts embedded in "
          f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    targets = record_targets(records)
    weight = np.asarray(record_weights(records) or [1.0] * len(records), dtype=float)
    folds = loso_folds(complaints, extra)
    n = len(complaints)

    def describe_columns():
        unit = X / np.linalg.norm(X, axis=1, keepdims=True)
        sims = []
        for head in HEADS:
            for label in sorted(DESCRIPTIONS[head]):
                v = encoder.embed(DESCRIPTIONS[head][label]).mean(axis=0)
                sims.append(unit @ (v / np.linalg.norm(v)))
        Z = np.column_stack(sims)
        return args.weight * (Z - Z.mean(axis=0)) / Z.std(axis=0)

    def stacked(tr, held):
        out, classes = _heads(X, S, targets, weight, tr, held)
        tr = np.asarray(tr)
        rows = np.array([targets["cause"][i] is not None for i in tr])
        y = np.array([str(targets["cause"][i]) for i in tr])
        oof = np.zeros((len(tr), len(classes["cause"])))
        idx = np.where(rows)[0]
        lr = dict(C=4, class_weight="balanced", max_iter=3000)
        for a, b in StratifiedKFold(5, shuffle=True, random_state=0).split(idx, y[idx]):
            model = LogisticRegression(**lr).fit(
                X[tr[idx[a]]], y[idx[a]], sample_weight=weight[tr[idx[a]]]
            )
            oof[idx[b]] = model.predict_proba(X[tr[idx[b]]])
        if (~rows).any():
            full = LogisticRegression(**lr).fit(X[tr[idx]], y[idx], sample_weight=weight[tr[idx]])
            oof[~rows] = full.predict_proba(X[tr[~rows]])
        from triage.backends.dense_heads import DenseLinearHeads

        dept = DenseLinearHeads(C=4, emotion_C=2, max_iter=3000).fit(
            np.hstack([X[tr], 3 * oof]), {"department": [targets["department"][i] for i in tr]},
            weight[tr])  # fmt: skip
        out.update(dept.predict_proba(np.hstack([X[held], 3 * out["cause"]])))
        return out, classes

    def grouped(tr, held):
        out, classes = _heads(X, S, targets, weight, tr, held)
        tr = np.asarray(tr)
        groups = np.array([records[i].get("source", "?") for i in tr])
        oof = {h: np.zeros((len(tr), len(classes[h]))) for h in classes}
        for a, b in GroupKFold(4).split(tr, groups=groups):
            inner, inner_classes = _heads(X, S, targets, weight, list(tr[a]), list(tr[b]))
            for h in classes:
                for j, label in enumerate(classes[h]):
                    if label in inner_classes[h]:
                        oof[h][b, j] = inner[h][:, inner_classes[h].index(label)]
        for h in ("cause", "department"):
            rows = np.array([targets[h][i] is not None for i in tr])
            y = np.array([str(targets[h][i]) for i in tr])[rows]
            labels = np.array(classes[h])
            logp = np.log(oof[h][rows] + 1e-9)
            bias = np.zeros(len(labels))

            def f1(b, logp=logp, y=y, labels=labels):
                return f1_score(
                    y, labels[(logp + b).argmax(1)], average="macro", labels=list(labels)
                )

            best = f1(bias)
            for _ in range(2):
                for k in range(len(labels)):
                    for g in np.arange(-2.0, 2.01, 0.25):
                        b = bias.copy()
                        b[k] = g
                        if (s := f1(b)) > best + 1e-9:
                            best, bias = s, b
            z = np.log(out[h] + 1e-9) + bias
            z = np.exp(z - z.max(axis=1, keepdims=True))
            out[h] = z / z.sum(axis=1, keepdims=True)
        rows = np.array([targets["emotions"][i] is not None for i in tr])
        for j, label in enumerate(classes["emotions"]):
            y = np.array([label in (targets["emotions"][i] or []) for i in tr])[rows]
            cuts = np.arange(0.15, 0.86, 0.05)
            t = max(cuts, key=lambda c: f1_score(y, oof["emotions"][rows, j] >= c, zero_division=0))
            p = np.clip(out["emotions"][:, j], 1e-9, 1 - 1e-9)
            logit = np.log(p / (1 - p)) - np.log(t / (1 - t))  # the tuned cut now sits at 0.5
            out["emotions"][:, j] = 1 / (1 + np.exp(-logit))
        return out, classes

    Z = describe_columns() if "describe" in (args.variant or variants) else None
    fit_predict = {
        "base": lambda tr, held: _heads(X, S, targets, weight, tr, held),
        "describe": lambda tr, held: _heads(X, S, targets, weight, tr, held, extra=Z),
        "stack": stacked,
        "grouped": grouped,
    }
    for variant in args.variant or variants:
        started = time.perf_counter()
        predictions = {}
        for fold in folds:
            tr = list(fold.train) + [n + i for i in fold.extra]
            held = list(fold.held_out)
            probas, classes = fit_predict[variant](tr, held)
            for i, p in zip(held, _compact(probas, classes, {}), strict=True):
                predictions[i] = {**p, "id": records[i]["id"], "lang": records[i]["lang"]}
        order = sorted(predictions)
        m = score([complaints[i] for i in order], [predictions[i] for i in order])
        line = f"{variant:9s} " + " / ".join(f"{m[h]['macro_f1']:.3f}" for h in HEADS)
        for lang in ("en", "es", "ru", "zh"):
            line += f" | {lang} " + " / ".join(
                f"{m['by_lang'][lang][h]['macro_f1']:.3f}" for h in HEADS
            )
        print(line + f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
