-- What lets a worker notice that an input topic went backwards (spec §2.4.10): a topic deleted and created
-- again starts its offsets at 0, while every key of the `groups` table remembers the highest offset it
-- applied per input partition, so the new topic's records would be skipped as read before. Kafka's consumer
-- group forgets the committed offsets of a deleted topic and aiokafka 0.14 cannot read a topic's id, so the
-- highest end offset seen per partition is kept here, by deployment (whose tables hold those watermarks).
CREATE TABLE input_topics (
    deployment_id  text NOT NULL,
    topic          text NOT NULL,
    -- How many times a recreated topic of this name was accepted (`migrate --accept-new-input-topic`):
    -- past 0 the inputs are recorded under "{topic}#{incarnation}", so the old watermarks do not match.
    incarnation    int NOT NULL DEFAULT 0,
    accepted_at    timestamptz,
    PRIMARY KEY (deployment_id, topic)
);

CREATE TABLE input_topic_marks (
    deployment_id  text NOT NULL,
    topic          text NOT NULL,
    partition      int NOT NULL,
    -- The highest end offset (the offset the next record gets) seen on this partition: it never goes down
    -- while the topic stays the same.
    end_offset     bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (deployment_id, topic, partition),
    FOREIGN KEY (deployment_id, topic) REFERENCES input_topics (deployment_id, topic)
);
