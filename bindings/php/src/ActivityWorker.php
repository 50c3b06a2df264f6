<?php

declare(strict_types=1);

namespace O365;

/**
 * A CRM worker loop for activities (mail sent from Outlook, outside the CRM): takes
 * `activity` events from the library's queue, hands each to the CRM's booking function, and
 * acks it only after the booking succeeded. A crash before the ack means the activity comes
 * again (the booking function should be idempotent on `$event['id']`); an acked one never
 * does.
 *
 * It never acks an event it did not handle: without `$other` it takes only `activity` events
 * (o365_next_event_filtered), so `reauth_required`, `send_failed`, progress ... stay in the
 * queue for the workers that handle them. With `$other` it takes every event (of `$mailbox`,
 * when given) and acks each after `$book` or `$other` returned.
 */
final class ActivityWorker
{
    /** @var callable(array<string, mixed>): void */
    private $book;
    /** @var (callable(array<string, mixed>): void)|null */
    private $other;

    /**
     * @param callable(array<string, mixed>): void $book   books one activity in the CRM
     * @param (callable(array<string, mixed>): void)|null $other handles any other event; null:
     *        other events are not taken at all
     * @param string|null $mailbox only events of this mailbox (id or address)
     */
    public function __construct(
        private Client $client,
        callable $book,
        ?callable $other = null,
        private ?string $mailbox = null
    ) {
        $this->book = $book;
        $this->other = $other;
    }

    /**
     * Handles events until none arrives within $waitMs, or $max events were handled.
     * Returns how many activities were booked.
     */
    public function run(int $waitMs = 1000, int $max = PHP_INT_MAX): int
    {
        $filter = $this->other === null ? ['types' => ['activity']] : [];
        if ($this->mailbox !== null) {
            $filter['mailbox'] = $this->mailbox;
        }
        $booked = 0;
        for ($n = 0; $n < $max; $n++) {
            $event = $this->client->nextEventFiltered($filter, $waitMs);
            if ($event === null) {
                break;
            }
            if (($event['type'] ?? '') === 'activity') {
                ($this->book)($event);
                $booked++;
            } elseif ($this->other !== null) {
                ($this->other)($event);
            } else {
                continue; // not ours (cannot happen with the filter): never acked
            }
            $this->client->ackEvent((string) $event['id']);
        }
        return $booked;
    }
}
