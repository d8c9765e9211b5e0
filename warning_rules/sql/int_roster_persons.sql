-- int_roster_persons: one row per roster row of $as_of, with the flags every rule shares.
-- in_roster: status active or gradual_exit. is_recipient: in roster and category dibao/tekun.
-- is_recipient_household: the household has at least one recipient.
-- in_recipient_household: an in-roster row of a recipient household.
-- age: whole years from birth_date_eff to $as_of. local_standard: standards row for
-- (county_code, urban_rural). is_household_representative: the household's head row (any
-- status), else its first row by normalised ID (person_id, then id_number); its household_size,
-- standard, name and region stand for the household.
with roster as (
    select * from links.roster where as_of = $as_of
),

standards as (
    select county_code, urban_rural, max(monthly_standard) as monthly_standard
    from {standards_relation}
    where as_of = $as_of
    group by county_code, urban_rural
),

flagged as (
    select
        roster.*,
        coalesce(roster.status in ('active', 'gradual_exit'), false) as in_roster,
        coalesce(roster.status in ('active', 'gradual_exit')
                 and roster.category in ('dibao', 'tekun'), false) as is_recipient
    from roster
),

households as (
    select household_id, bool_or(is_recipient) as is_recipient_household
    from flagged
    group by household_id
),

final as (
    select
        flagged.*,
        households.is_recipient_household,
        flagged.in_roster and households.is_recipient_household as in_recipient_household,
        year($as_of) - year(flagged.birth_date_eff)
            - case when month($as_of) * 100 + day($as_of)
                        < month(flagged.birth_date_eff) * 100 + day(flagged.birth_date_eff)
                   then 1 else 0 end as age,
        standards.monthly_standard as local_standard,
        row_number() over (
            partition by flagged.household_id
            order by coalesce(flagged.relation = 'head', false) desc,
                     flagged.person_id asc nulls last, flagged.id_number, flagged._row
        ) = 1 as is_household_representative
    from flagged
    join households on households.household_id = flagged.household_id
    left join standards
        on standards.county_code = flagged.county_code
        and standards.urban_rural = flagged.urban_rural
)

select * from final
