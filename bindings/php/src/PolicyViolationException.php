<?php

declare(strict_types=1);

namespace O365;

/** Status 7 (policy_violation). */
class PolicyViolationException extends Exception
{
}
