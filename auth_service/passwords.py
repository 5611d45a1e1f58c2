"""Password hashing (Argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from auth_service.usernames import canonical_username
from shared.errors import APIError

# OWASP's minimum Argon2id parameters (19 MiB, 2 iterations, 1 lane): strong
# enough, and cheap enough that a login stays well under 100 ms on 2 cores.
hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

MIN_LENGTH = 10
# The most common passwords of public breach lists that are long enough to
# pass the length rule; anything in it is refused.
COMMON_PASSWORDS = frozenset(
    {
        "1234567890",
        "12345678910",
        "123456789a",
        "0987654321",
        "1q2w3e4r5t",
        "qwertyuiop",
        "1qaz2wsx3edc",
        "password1",
        "password123",
        "password1234",
        "passw0rd123",
        "iloveyou123",
        "qwerty1234",
        "qwerty12345",
        "qwerty123456",
        "abcdefghij",
        "abc1234567",
        "1111111111",
        "0000000000",
        "aaaaaaaaaa",
        "administrator",
        "admin12345",
        "admin123456",
        "welcome123",
        "letmein123",
        "changeme123",
        "football123",
        "baseball123",
        "sunshine123",
        "princess123",
        "trustno1234",
        "senha12345",
        "senha123456",
        "mudar12345",
        "brasil1234",
        "frota12345",
    }
)


def hash_password(password: str) -> str:
    return hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return hasher.check_needs_rehash(password_hash)


# Verified against when the username is unknown, so that a miss costs the same
# time as a wrong password and does not reveal which usernames exist.
DUMMY_HASH = hash_password("frota-dummy-password-for-timing")


def check_password_policy(password: str, *, username: str, field: str = "password") -> None:
    """Raise 422 naming the rule a new password breaks, under the body's ``field``."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters long")
    # Compared as usernames are: the full-width ADMIN is the username admin too.
    if canonical_username(password) == canonical_username(username):
        problems.append("must not be the username")
    if password.lower() in COMMON_PASSWORDS:
        problems.append("is one of the most common passwords")
    if problems:
        raise APIError(
            422,
            "weak_password",
            "The password does not meet the policy",
            details={field: problems},
        )
