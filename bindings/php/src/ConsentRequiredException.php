<?php

declare(strict_types=1);

namespace O365;

/** Status 6 (consent_required: an administrator has to consent to the app). */
class ConsentRequiredException extends Exception
{
}
