"""The consortium's signing keys: a CA the project creates, and a key per expert.

`ensure_ca` creates the consortium CA on first use (or `yiyun consult init-ca`); `signer_for`
issues an expert's key and certificate from it (subject CN = the expert's name, O = the
institution). Private keys are stored encrypted with the field cipher, bound to their row
(`context="signing:<id>"`). `sign_pdf` applies a PAdES signature (pyHanko,
`ETSI.CAdES.detached`) with the expert's key; any PDF validator that trusts the CA
certificate reports it intact and names the signer.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.consult.models import SigningIdentity
from yiyun.core.clock import as_utc, now
from yiyun.core.crypto import FieldCipher
from yiyun.org.models import Institution, User

CA_NAME = "Yiyun Consortium Signing CA"
CA_YEARS, SIGNER_YEARS = 10, 2


@dataclass(frozen=True)
class KeyPair:
    key_pem: bytes
    cert_pem: bytes


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(at: datetime) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(CA_NAME, "Yiyun Consortium")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - timedelta(minutes=5))
        .not_valid_after(at + timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(_key_pem(key), cert.public_bytes(serialization.Encoding.PEM))


def make_signer(ca: KeyPair, *, name: str, org: str, at: datetime) -> KeyPair:
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)  # noqa: S101 (we made it)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name, org))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - timedelta(minutes=5))
        .not_valid_after(at + timedelta(days=365 * SIGNER_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(_key_pem(key), cert.public_bytes(serialization.Encoding.PEM))


def _serial(cert_pem: bytes) -> str:
    return format(x509.load_pem_x509_certificate(cert_pem).serial_number, "x")


def _not_after(cert_pem: bytes) -> datetime:
    return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc


async def _store(
    session: AsyncSession,
    cipher: FieldCipher,
    pair: KeyPair,
    *,
    kind: str,
    subject: str,
    user_id: int | None,
) -> SigningIdentity:
    row = SigningIdentity(
        user_id=user_id,
        kind=kind,
        subject=subject[:300],
        serial=_serial(pair.cert_pem),
        cert_pem=pair.cert_pem.decode("ascii"),
        key_enc="",
        not_after=_not_after(pair.cert_pem),
        created_at=now(),
    )
    session.add(row)
    await session.flush()
    row.key_enc = cipher.encrypt(pair.key_pem.decode("ascii"), context=f"signing:{row.id}")
    await session.flush()
    return row


def pair_of(row: SigningIdentity, cipher: FieldCipher) -> KeyPair:
    key = cipher.decrypt(row.key_enc, context=f"signing:{row.id}")
    return KeyPair(key.encode("ascii"), row.cert_pem.encode("ascii"))


async def ca_row(session: AsyncSession) -> SigningIdentity | None:
    return await session.scalar(select(SigningIdentity).where(SigningIdentity.kind == "ca"))


async def ensure_ca(session: AsyncSession, cipher: FieldCipher) -> SigningIdentity:
    """The consortium CA, created (once, in a SAVEPOINT) if there is none yet."""
    found = await ca_row(session)
    if found is not None:
        return found
    pair = await asyncio.to_thread(make_ca, now())
    try:
        async with session.begin_nested():
            return await _store(session, cipher, pair, kind="ca", subject=CA_NAME, user_id=None)
    except IntegrityError:  # pragma: no cover - two first signers at once
        found = await ca_row(session)
        assert found is not None  # noqa: S101
        return found


async def signer_for(session: AsyncSession, cipher: FieldCipher, user: User) -> SigningIdentity:
    """The expert's signing identity, issued by the consortium CA on first use."""
    found = await session.scalar(select(SigningIdentity).where(SigningIdentity.user_id == user.id))
    if found is not None and as_utc(found.not_after) > now() + timedelta(days=1):
        return found
    ca = await ensure_ca(session, cipher)
    inst = await session.get(Institution, user.institution_id)
    org = inst.name_en if inst is not None else "Yiyun Consortium"
    pair = await asyncio.to_thread(
        make_signer, pair_of(ca, cipher), name=user.display_name, org=org, at=now()
    )
    if found is not None:
        await session.delete(found)
        await session.flush()
    return await _store(
        session, cipher, pair, kind="signer", subject=user.display_name, user_id=user.id
    )


def _asn1_cert(pem: bytes) -> asn1_x509.Certificate:
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return asn1_x509.Certificate.load(der)


def sign_pdf_sync(pdf: bytes, signer: KeyPair, ca_cert_pem: bytes, *, reason: str) -> bytes:
    """A PAdES baseline signature over the whole PDF with the signer's key."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = serialization.load_pem_private_key(signer.key_pem, password=None)
    key_der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    simple = signers.SimpleSigner(
        signing_cert=_asn1_cert(signer.cert_pem),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [_asn1_cert(ca_cert_pem)]
        ),
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    meta = signers.PdfSignatureMetadata(
        field_name="ExpertSignature",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location="Yiyun",
    )
    out = io.BytesIO()
    signers.sign_pdf(writer, meta, signer=simple, output=out)
    return out.getvalue()


async def sign_pdf(pdf: bytes, signer: KeyPair, ca_cert_pem: bytes, *, reason: str) -> bytes:
    return await asyncio.to_thread(sign_pdf_sync, pdf, signer, ca_cert_pem, reason=reason)


@dataclass(frozen=True)
class Verdict:
    intact: bool
    valid: bool
    signer: str


async def verify_pdf(pdf: bytes, ca_cert_pem: bytes) -> Verdict:
    """pyHanko's own validation of the (first) signature, trusting the consortium CA."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(pdf))
    embedded = reader.embedded_signatures[0]
    status = await async_validate_pdf_signature(
        embedded, ValidationContext(trust_roots=[_asn1_cert(ca_cert_pem)])
    )
    return Verdict(
        intact=bool(status.intact),
        valid=bool(status.valid),
        signer=str(status.signing_cert.subject.native.get("common_name", "")),
    )
