<?php

declare(strict_types=1);

namespace O365;

/** Status 10 (remote: Microsoft Graph / Entra refused). */
class RemoteException extends Exception
{
}
