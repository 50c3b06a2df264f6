<?php

declare(strict_types=1);

namespace O365;

/**
 * A CRM worker loop for activities (mail sent from Outlook, outside the CRM): takes events
 * from the library's queue, hands each `activity` to the CRM's booking function, and acks
 * it only after the booking succeeded. A crash before the ack means the activity comes again
 * (the booking function should be idempotent on `$event['id']`); an acked one never does.
 * Other event types go to `$other` (or are acked and dropped when it is null).
 */
final class ActivityWorker
{
    /** @var callable(array<string, mixed>): void */
    private $book;
    /** @var (callable(array<string, mixed>): void)|null */
    private $other;

    /**
     * @param callable(array<string, mixed>): void $book   books one activity in the CRM
     * @param (callable(array<string, mixed>): void)|null $other handles any other event
     */
    public function __construct(private Client $client, callable $book, ?callable $other = null)
    {
        $this->book = $book;
        $this->other = $other;
    }

    /**
     * Handles events until none arrives within $waitMs, or $max events were handled.
     * Returns how many activities were booked.
     */
    public function run(int $waitMs = 1000, int $max = PHP_INT_MAX): int
    {
        $booked = 0;
        for ($n = 0; $n < $max; $n++) {
            $event = $this->client->nextEvent($waitMs);
            if ($event === null) {
                break;
            }
            if (($event['type'] ?? '') === 'activity') {
                ($this->book)($event);
                $booked++;
            } elseif ($this->other !== null) {
                ($this->other)($event);
            }
            $this->client->ackEvent((string) $event['id']);
        }
        return $booked;
    }
}
